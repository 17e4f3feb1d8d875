package fastjson

// A scanner for the top level of a JSON object that finds where each
// member's value starts and ends without decoding or validating it. It is
// what makes the rest of the package cheap: client-go parses a whole object
// with encoding/json just to read its apiVersion and kind, and again to cut
// a watch stream into events, before decoding it for real. Those passes
// only need to know where things are; the decode that follows still checks
// every byte.

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just after the string that starts with the
// quote at data[i], and whether it holds a backslash; ok is false when the
// string does not end.
func stringEnd(data []byte, i int) (end int, escaped, ok bool) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped, true
		}
	}
	return 0, false, false
}

// valueEnd returns the index just after the JSON value that starts at
// data[i] (white space skipped), or ok false when none ends there. It
// matches brackets and skips strings, and checks nothing else.
func valueEnd(data []byte, i int) (end int, ok bool) {
	i = skipSpace(data, i)
	if i >= len(data) {
		return 0, false
	}
	switch data[i] {
	case '"':
		end, _, ok := stringEnd(data, i)
		return end, ok
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, _, ok := stringEnd(data, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	case '}', ']', ',', ':':
		return 0, false
	case 't':
		return wordEnd(data, i, "true")
	case 'f':
		return wordEnd(data, i, "false")
	case 'n':
		return wordEnd(data, i, "null")
	default:
		return numberEnd(data, i)
	}
}

// wordEnd returns the index just after word at data[i], or ok false when
// data does not hold it there.
func wordEnd(data []byte, i int, word string) (end int, ok bool) {
	if len(data)-i < len(word) || string(data[i:i+len(word)]) != word {
		return 0, false
	}
	return i + len(word), true
}

// numberEnd returns the index just after the JSON number at data[i]: an
// optional minus, 0 or digits not starting with 0, optional fraction and
// exponent. It reports ok false when no number starts there, or when data
// ends where the number would go on (a fraction or an exponent without
// digits yet).
func numberEnd(data []byte, i int) (end int, ok bool) {
	j := i
	if j < len(data) && data[j] == '-' {
		j++
	}
	switch {
	case j < len(data) && data[j] == '0':
		j++
	case j < len(data) && '1' <= data[j] && data[j] <= '9':
		j = digitsEnd(data, j)
	default:
		return 0, false
	}
	if j < len(data) && data[j] == '.' {
		start := j + 1
		if j = digitsEnd(data, start); j == start {
			return 0, false
		}
	}
	if j < len(data) && (data[j] == 'e' || data[j] == 'E') {
		j++
		if j < len(data) && (data[j] == '+' || data[j] == '-') {
			j++
		}
		start := j
		if j = digitsEnd(data, start); j == start {
			return 0, false
		}
	}
	return j, true
}

// digitsEnd returns the index of the first byte at or after i that is not
// a decimal digit.
func digitsEnd(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}

// members calls f with the key and the raw value of each member of the
// JSON object in data, in order, until f returns false. It reports false
// when data is not an object it can read: the caller then falls back to
// encoding/json, which says what is wrong. Keys holding a backslash are
// not read either, since they would have to be unescaped to be compared.
func members(data []byte, f func(key, value []byte) bool) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return false
		}
		keyEnd, escaped, ok := stringEnd(data, i)
		if !ok || escaped {
			return false
		}
		key := data[i+1 : keyEnd-1]
		i = skipSpace(data, keyEnd)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		start := skipSpace(data, i+1)
		end, ok := valueEnd(data, start)
		if !ok {
			return false
		}
		if !f(key, data[start:end]) {
			return true
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
}

// plainString returns the contents of a JSON string value of ASCII
// without escapes, and false for anything else (encoding/json would
// unescape it, or replace invalid UTF-8).
func plainString(value []byte) (string, bool) {
	if len(value) < 2 || value[0] != '"' {
		return "", false
	}
	end, escaped, ok := stringEnd(value, 0)
	if !ok || escaped || end != len(value) {
		return "", false
	}
	for _, c := range value {
		if c >= 0x80 {
			return "", false
		}
	}
	return string(value[1 : len(value)-1]), true
}
