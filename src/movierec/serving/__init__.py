"""The recommendation service: recommender core, cache and sessions, BentoML service, web page."""
