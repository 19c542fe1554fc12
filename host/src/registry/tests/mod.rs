//! Tests of the registry module through its public API: against a real registry
//! (`/usr/bin/docker-registry`, started per test on a free loopback port), against a hostile
//! in-process HTTP server, and on image layouts.

mod hostile;
mod layout;
mod real;
mod support;
