"""The learning domain: courses, assignments, enrollments, progress."""
