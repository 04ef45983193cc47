package gen

import (
	"math/rand/v2"
	"strconv"
)

var (
	consonants = []string{"b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "sh", "th", "br", "st", "tr"}
	vowels     = []string{"a", "e", "i", "o", "u", "ai", "ou"}
)

// Vocabulary returns n distinct pseudo-words, lower-case ASCII letters only,
// made deterministically from seed: the same n and seed always give the same
// words in the same order. Words are two to four syllables long.
func Vocabulary(n int, seed int64) []string {
	if n <= 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	words := make([]string, 0, n)
	seen := make(map[string]bool, n)
	misses := 0
	for len(words) < n {
		var b []byte
		syllables := 2 + rng.IntN(3)
		for range syllables {
			b = append(b, consonants[rng.IntN(len(consonants))]...)
			b = append(b, vowels[rng.IntN(len(vowels))]...)
		}
		w := string(b)
		if seen[w] {
			// There are about 2e8 words to draw from; if n comes near that,
			// make words unique with a base-26 suffix instead of spinning.
			misses++
			if misses < 100 {
				continue
			}
			w += suffix(len(words))
			if seen[w] {
				continue
			}
		}
		misses = 0
		seen[w] = true
		words = append(words, w)
	}
	return words
}

// suffix spells i in letters a-z, so that words stay alphabetic.
func suffix(i int) string {
	s := strconv.FormatInt(int64(i), 26)
	b := []byte(s)
	for j, c := range b {
		if c >= '0' && c <= '9' { // letters a-p stay; digits 0-9 become q-z
			b[j] = 'q' + (c - '0')
		}
	}
	return "x" + string(b)
}
