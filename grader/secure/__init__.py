"""The instructor's secure grading pipeline: every student's code in its own sandbox.

Steps, one module each, in order (grader/secure/_pipeline.py says why the order matters):
collect -> extract -> sandbox -> compare -> score -> record. The cases, the hidden ones
included, and the right answers come from the course's exercise declarations and never
enter a sandbox.
"""
