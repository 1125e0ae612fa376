"""The GitLab provider: projects and their repository trees."""
