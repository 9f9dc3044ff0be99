//go:build slow

package jwtextended

// rotationCount is how many rotations TestRotationStorageStaysConstant
// makes under -tags slow; 200 without (rotation_count_test.go).
const rotationCount = 5000
