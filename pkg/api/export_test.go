package api

// Rules exposes the access table to the external tests.
func RuleOperations() []string {
	out := make([]string, 0, len(rules))
	for op := range rules {
		out = append(out, op)
	}
	return out
}
