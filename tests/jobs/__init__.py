"""Tests of project/jobs/."""
