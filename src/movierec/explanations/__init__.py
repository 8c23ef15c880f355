"""Explanations of recommendations: their context, the template, language-model providers, the grounding guard,
the budgeted and cached explainer, and its monitor."""
