"""The Moodle provider: courses, enrollments and progress over Moodle web services."""
