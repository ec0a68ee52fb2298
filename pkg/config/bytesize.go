package config

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ByteSize is a count of bytes. As a flag value it reads a decimal integer
// followed by an optional IEC unit: "4096", "512B", "256KiB", "8MiB", "1GiB".
// Units are case-insensitive. Decimal units (kB, MB, GB) are refused rather
// than guessed at, because "8MB" is as often meant as 8 MiB as 8 million.
type ByteSize int64

// Byte size units.
const (
	Byte ByteSize = 1
	KiB           = 1024 * Byte
	MiB           = 1024 * KiB
	GiB           = 1024 * MiB
	TiB           = 1024 * GiB
)

// byteUnits is ordered from the largest unit down, for String.
var byteUnits = [...]struct {
	name string
	size ByteSize
}{
	{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}, {"B", Byte},
}

// ParseByteSize parses s as described on ByteSize. A space may separate the
// number from its unit.
func ParseByteSize(s string) (ByteSize, error) {
	digits := strings.TrimRight(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
	unit := s[len(digits):]
	digits = strings.TrimSuffix(digits, " ")
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, fmt.Errorf("byte size %q: want a decimal number of bytes with an optional unit (B, KiB, MiB, GiB, TiB)", s)
	}
	mult, err := byteUnit(unit)
	if err != nil {
		return 0, fmt.Errorf("byte size %q: %w", s, err)
	}
	n, err := strconv.ParseUint(digits, 10, 63)
	if err != nil || n > math.MaxInt64/uint64(mult) {
		return 0, fmt.Errorf("byte size %q: too large", s)
	}
	return ByteSize(n) * mult, nil
}

func byteUnit(unit string) (ByteSize, error) {
	if unit == "" {
		return Byte, nil
	}
	for _, u := range byteUnits {
		if strings.EqualFold(unit, u.name) {
			return u.size, nil
		}
	}
	switch strings.ToLower(unit) {
	case "k", "kb", "m", "mb", "g", "gb", "t", "tb":
		return 0, errors.New("ambiguous unit: use KiB, MiB, GiB or TiB (powers of 1024)")
	}
	return 0, fmt.Errorf("unknown unit %q: use B, KiB, MiB, GiB or TiB", unit)
}

// String formats b in the largest unit that divides it exactly, so that
// ParseByteSize(b.String()) == b for every b >= 0.
func (b ByteSize) String() string {
	if b == 0 {
		return "0"
	}
	for _, u := range byteUnits[:len(byteUnits)-1] {
		if b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// Set implements flag.Value.
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// ByteSizeVar registers a ByteSize flag on fs that stores its value in p,
// starting from value.
func ByteSizeVar(fs *flag.FlagSet, p *ByteSize, name string, value ByteSize, usage string) {
	*p = value
	fs.Var(p, name, usage)
}
