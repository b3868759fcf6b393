//go:build race

package db

// raceDetector tells whether the tests run under the race detector, which
// makes the WebAssembly SQLite many times slower.
const raceDetector = true
