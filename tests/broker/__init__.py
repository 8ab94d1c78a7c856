"""Tests of project/broker/."""
