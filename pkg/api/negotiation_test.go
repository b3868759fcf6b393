package api

import "testing"

func TestPrefersSpreadsheet(t *testing.T) {
	for _, tc := range []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"*/*"}, false},
		{[]string{"application/json"}, false},
		{[]string{"application/vnd.ms-excel"}, true},
		{[]string{"application/vnd.ms-excel, */*;q=0.1"}, true},
		{[]string{"application/vnd.ms-excel, */*"}, true},
		{[]string{"application/vnd.ms-excel;q=0.5, */*"}, false},
		{[]string{"application/json, application/vnd.ms-excel"}, false},
		{[]string{"application/json;q=0.8, application/vnd.ms-excel"}, true},
		{[]string{"application/json;q=0.8", "application/vnd.ms-excel"}, true},
		{[]string{"application/vnd.ms-excel;q=0"}, false},
		{[]string{"application/vnd.ms-excel;q=bad"}, false},
		{[]string{"text/html, application/vnd.ms-excel;q=0.9"}, true},
		{[]string{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}, true},
		{[]string{"application/json, application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;q=0.5"}, false},
	} {
		if got := prefersSpreadsheet(tc.accept); got != tc.want {
			t.Errorf("prefersSpreadsheet(%q) = %v, want %v", tc.accept, got, tc.want)
		}
	}
}
