// Package loopback runs in-process mail servers on 127.0.0.1: the embedded
// default of `serve` and the peers of most tests.
package loopback
