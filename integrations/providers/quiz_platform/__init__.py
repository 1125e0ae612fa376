"""A configurable REST quiz platform that portal quizzes are published to."""
