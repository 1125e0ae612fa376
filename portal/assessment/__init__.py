"""Quizzes in the portal, published to a quiz platform, and their results."""
