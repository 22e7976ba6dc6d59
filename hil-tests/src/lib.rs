//! Helpers shared by the hil-tests: peer fixtures on free 127.0.0.1 ports, the agent under test.
