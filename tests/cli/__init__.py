"""Tests of cli/: every command through CliRunner, exit codes through the installed appctl."""
