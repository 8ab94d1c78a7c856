"""Tests of project/jobs/history/."""
