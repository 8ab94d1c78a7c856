"""Tests of project/broker/: the transports redeliver the jobs of dead workers and store a batch whole."""
