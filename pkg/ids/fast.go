package ids

import (
	"math"
	"slices"
	"strings"
)

// fast is Hashids (go-hashids v2's algorithm, which the ids handed out so
// far were made with) for one number at a time, without allocating but
// for the string it returns: a single number's alphabet depends only on
// its lottery, one of the alphabet's letters, so the shuffled alphabet of
// each lottery is computed once. The library's own encoding, which
// TestFastIsHashids checks every path of this one against, remains for
// what this one leaves to it: the few keys whose id must be padded to
// MinLength (the smallest, below the alphabet's length).
type fast struct {
	alphabet, seps, guards []rune
	// shuffled[p] is the alphabet of a number whose lottery is
	// alphabet[p].
	shuffled [][]rune
	// pos[p][r] is r's position in shuffled[p], for decoding; -1 when r
	// is not in it.
	pos []map[rune]int
	// lottery maps a letter of the alphabet to its position.
	lottery map[rune]int
}

// maxFastAlphabet bounds the tables (the alphabet's length squared).
const maxFastAlphabet = 256

// The constants of go-hashids v2.
const (
	sepDiv   = 3.5
	guardDiv = 12.0
)

// newFast computes the tables of the alphabet and salt as
// hashids.NewWithData does (the caller has checked them with it); nil
// when the alphabet is too long for them.
func newFast(alphabetText, saltText string) *fast {
	alphabet := []rune(alphabetText)
	salt := []rune(saltText)
	if len(alphabet) > maxFastAlphabet || len(salt) == 0 {
		// Without a salt the library shuffles nothing: rare, and left
		// to it.
		return nil
	}
	seps := []rune("cfhistuCFHISTU")
	// The separators are the letters of the alphabet among those above;
	// the alphabet loses them.
	for i := 0; i < len(seps); i++ {
		j := slices.Index(alphabet, seps[i])
		if j == -1 {
			seps = slices.Delete(seps, i, i+1)
			i--
		} else {
			alphabet = slices.Delete(alphabet, j, j+1)
		}
	}
	shuffle(seps, salt)
	if len(seps) == 0 || float64(len(alphabet))/float64(len(seps)) > sepDiv {
		n := int(math.Ceil(float64(len(alphabet)) / sepDiv))
		if n == 1 {
			n++
		}
		if n > len(seps) {
			diff := n - len(seps)
			seps = append(seps, alphabet[:diff]...)
			alphabet = alphabet[diff:]
		} else {
			seps = seps[:n]
		}
	}
	shuffle(alphabet, salt)
	n := int(math.Ceil(float64(len(alphabet)) / guardDiv))
	var guards []rune
	if len(alphabet) < 3 {
		guards, seps = seps[:n], seps[n:]
	} else {
		guards, alphabet = alphabet[:n], alphabet[n:]
	}
	if len(alphabet) < 4 || len(guards) == 0 || len(seps) == 0 {
		return nil
	}
	f := &fast{alphabet: alphabet, seps: seps, guards: guards, lottery: map[rune]int{}}
	buffer := make([]rune, 0, 1+len(salt)+len(alphabet))
	for p, l := range alphabet {
		f.lottery[l] = p
		a := slices.Clone(alphabet)
		buffer = append(append(append(buffer[:0], l), salt...), alphabet...)
		shuffle(a, buffer[:len(a)])
		f.shuffled = append(f.shuffled, a)
		m := make(map[rune]int, len(a))
		for i, r := range a {
			m[r] = i
		}
		f.pos = append(f.pos, m)
	}
	return f
}

// shuffle is Hashids' consistent shuffle of alphabet by salt, in place.
func shuffle(alphabet, salt []rune) {
	if len(salt) == 0 {
		return
	}
	for i, v, p := len(alphabet)-1, 0, 0; i > 0; i-- {
		p += int(salt[v])
		j := (int(salt[v]) + v + p) % i
		alphabet[i], alphabet[j] = alphabet[j], alphabet[i]
		v = (v + 1) % len(salt)
	}
}

// encode is the id of n (≥ 0); ok is false when it would need padding
// past its guards, which the library does.
func (f *fast) encode(n int64) (string, bool) {
	hash := n % 100
	p := int(hash % int64(len(f.alphabet)))
	a := f.shuffled[p]
	// The lottery, the number's digits in its alphabet, and up to two
	// guards: at most 1 + 64 + 2 letters (an alphabet has 4 at least).
	var buf [72]rune
	res := append(buf[1:1], f.alphabet[p])
	start := len(res)
	for l, x := int64(len(a)), n; ; {
		res = append(res, a[x%l])
		if x /= l; x == 0 {
			break
		}
	}
	slices.Reverse(res[start:])
	if len(res) < MinLength {
		res = buf[:len(res)+1] // the guard before the lottery
		res[0] = f.guards[(hash+int64(res[1]))%int64(len(f.guards))]
		if len(res) < MinLength {
			res = append(res, f.guards[(hash+int64(res[2]))%int64(len(f.guards))])
		}
	}
	if len(res) < MinLength {
		return "", false
	}
	var sb strings.Builder
	sb.Grow(len(res))
	for _, r := range res {
		sb.WriteRune(r)
	}
	return sb.String(), true
}

// decode reads the number id stands for, as the library does for an id of
// one number; ok is false for what the library would decode to an error
// or to several numbers. The caller checks that the number's id is id.
func (f *fast) decode(id string) (int64, bool) {
	var buf [32]rune
	runes := buf[:0]
	for _, r := range id {
		if len(runes) == len(buf) {
			return 0, false
		}
		runes = append(runes, r)
	}
	// The id between its guards: the second of two or three parts, the
	// whole when there is none (more guards: no id of ours).
	var cuts [3]int
	n := 0
	for i, r := range runes {
		if slices.Contains(f.guards, r) {
			if n == len(cuts) {
				return 0, false
			}
			cuts[n] = i
			n++
		}
	}
	part := runes
	switch n {
	case 1:
		part = runes[cuts[0]+1:]
	case 2:
		part = runes[cuts[0]+1 : cuts[1]]
	case 3:
		return 0, false
	}
	if len(part) < 2 {
		return 0, false
	}
	p, ok := f.lottery[part[0]]
	if !ok {
		return 0, false
	}
	pos := f.pos[p]
	l := int64(len(f.alphabet))
	var key int64
	for _, r := range part[1:] {
		if slices.Contains(f.seps, r) {
			return 0, false // several numbers
		}
		i, ok := pos[r]
		if !ok {
			return 0, false
		}
		key = key*l + int64(i)
	}
	return key, true
}
