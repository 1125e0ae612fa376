"""The GitHub provider: a user's or an organization's repositories, with READMEs."""
