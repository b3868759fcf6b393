//go:build !race

package db

const raceDetector = false
