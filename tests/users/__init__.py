"""Tests of project/users/."""
