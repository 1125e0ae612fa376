"""Learner accounts and their OAuth connections to outside services."""
