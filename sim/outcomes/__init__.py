"""Outcomes: Kaplan-Meier and competing-risk estimates, summary tables and plots."""
