"""The Canvas LMS provider: courses, assignments, enrollments, progress, grades."""
