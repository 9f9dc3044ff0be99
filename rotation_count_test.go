//go:build !slow

package jwtextended

// rotationCount is how many rotations TestRotationStorageStaysConstant
// makes; -tags slow makes 5,000 (rotation_count_slow_test.go).
const rotationCount = 200
