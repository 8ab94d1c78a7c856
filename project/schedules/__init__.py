"""Periodic jobs kept in the app's database: the schedules, their timing, and the beat that sends their runs."""
