"""Exploratory data analysis plots."""
