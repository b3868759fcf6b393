package api

// Rules exposes the access table to the external tests.
func RuleOperations() []string {
	out := make([]string, 0, len(rules))
	for op := range rules {
		out = append(out, op)
	}
	return out
}

// RuleInfo describes an operation's access rule for the permission matrix.
type RuleInfo struct {
	Public, Any, Sysadmin, Self, Manage bool
	Perm, Object                        string
}

// Rules exposes the access table to the external tests.
func Rules() map[string]RuleInfo {
	out := map[string]RuleInfo{}
	for op, r := range rules {
		out[op] = RuleInfo{Public: r.public, Any: r.any, Sysadmin: r.sysadmin, Self: r.self, Manage: r.manage,
			Perm: string(r.perm), Object: string(r.object)}
	}
	return out
}

// NotDelivered exposes the operations that answer 501 (undelivered.txt).
func NotDelivered() map[string]bool { return notDelivered }
