package api_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/xuri/excelize/v2"
)

func init() {
	// The response validator checks spreadsheet bodies as opaque files.
	openapi3filter.RegisterBodyDecoder(xlsxMIME, openapi3filter.FileBodyDecoder)
	// And the release link's page (a string of HTML) as text.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
}

// An export is asked for by the doc's type (excelMIME) or by its own, and
// answered as what it is, an Office Open XML workbook (xlsxMIME).
const (
	excelMIME = "application/vnd.ms-excel"
	xlsxMIME  = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

// sheet is a spreadsheet response read back with excelize: its rows as
// displayed (dates formatted by their cells' number format).
type sheet struct {
	rows  [][]string
	file  *excelize.File
	name  string
	bytes []byte
}

func (e *env) export(path string) *sheet {
	e.t.Helper()
	r := e.do(req{Method: "GET", Path: path, Header: map[string]string{"Accept": excelMIME}}).expect(200)
	if ct := r.Header.Get("Content-Type"); ct != xlsxMIME {
		e.t.Fatalf("GET %s: Content-Type %q, want %s\n%.300s", path, ct, xlsxMIME, r.Body)
	}
	// Asked for by its own type, the same file.
	if again := e.do(req{Method: "GET", Path: path, Header: map[string]string{"Accept": xlsxMIME}}).expect(200); again.Header.Get("Content-Type") != xlsxMIME {
		e.t.Errorf("GET %s with Accept %s: Content-Type %q", path, xlsxMIME, again.Header.Get("Content-Type"))
	}
	f, err := excelize.OpenReader(bytes.NewReader(r.Body))
	if err != nil {
		e.t.Fatalf("GET %s: not a spreadsheet: %v", path, err)
	}
	e.t.Cleanup(func() { f.Close() })
	name := f.GetSheetName(0)
	rows, err := f.GetRows(name)
	if err != nil {
		e.t.Fatal(err)
	}
	// excelize's reader rounds dates to the second whatever their format
	// says: the date columns are read from the cells' serial numbers.
	raw, err := f.GetRows(name, excelize.Options{RawCellValue: true})
	if err != nil {
		e.t.Fatal(err)
	}
	for j, h := range rows[0] {
		if !dateColumns[h] {
			continue
		}
		for i := 1; i < len(rows); i++ {
			if j < len(raw[i]) && raw[i][j] != "" {
				rows[i][j] = serialDate(mustFloat(e.t, raw[i][j])).Format("2006-01-02 15:04:05.000")
			}
		}
	}
	if total := r.Header.Get("X-Total-Count"); total != fmt.Sprint(len(rows)-1) {
		e.t.Errorf("GET %s: X-Total-Count %s, want the %d rows of the sheet", path, total, len(rows)-1)
	}
	return &sheet{rows: rows, file: f, name: name, bytes: r.Body}
}

// disposition checks the Content-Disposition of an export.
func (e *env) disposition(path, want string) {
	e.t.Helper()
	r := e.do(req{Method: "GET", Path: path, Header: map[string]string{"Accept": excelMIME}}).expect(200)
	if got := r.Header.Get("Content-Disposition"); got != want {
		e.t.Errorf("GET %s: Content-Disposition %q, want %q", path, got, want)
	}
}

func column(rows [][]string, name string) []string {
	var out []string
	idx := -1
	for i, h := range rows[0] {
		if h == name {
			idx = i
		}
	}
	for _, r := range rows[1:] {
		if idx < len(r) {
			out = append(out, r[idx])
		} else {
			out = append(out, "")
		}
	}
	return out
}

// serialDate reads a spreadsheet date (days since 1899-12-30, in the
// 1900 date system, for dates after February 1900) to the millisecond;
// excelize.ExcelDateToTime rounds to the second.
func serialDate(days float64) time.Time {
	return time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).Add(time.Duration(days * float64(24*time.Hour))).Round(time.Millisecond)
}

var dateColumns = map[string]bool{"createdDate": true, "expireAt": true, "creationDate": true, "lastConnectionDate": true}

func dateCell(ms float64) string {
	return time.UnixMilli(int64(ms)).UTC().Format("2006-01-02 15:04:05.000")
}

func TestSpreadsheetExports(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, e *env) {
		stark := e.newDomain("stark.net", map[string]any{"platforms": []map[string]any{{"name": "winterfell", "transportDest": "10.0.0.1", "transportType": "SMTP", "transportPort": 25}}})
		ned := e.newUser(stark, "ned@stark.net", map[string]any{"firstname": "Eddard", "lastname": "Stark"})
		e.newUser(stark, "arya@stark.net")
		e.newUser(stark, "bran@stark.net", map[string]any{"status": "DISABLED"})
		wpath := "/domains/" + stark + "/wblist"
		rules := e.do(req{Method: "PUT", Path: wpath, Body: []map[string]any{
			{"value": "daenerys@goodguys.fr", "type": "ALLOW", "spfOn": true},
			{"value": "baelish@badguys.fr", "type": "BLOCK", "expireAt": future, "description": "he's a traitor"},
			{"value": "arya@goodguys.fr", "type": "ALLOW"},
			{"value": "deadguys.fr", "type": "BLOCK"},
		}}).expect(200).list()

		// Sender rules: a header row of the fields, every row matching the
		// filters in the requested sort, paging ignored, dates as dates.
		s := e.export(wpath + "?sort=-value&offset=1&pageSize=1")
		if got := strings.Join(s.rows[0], ","); got != "id,value,owner,type,createdDate,expireAt,description,spfOn" {
			t.Errorf("header %s", got)
		}
		if got := strings.Join(column(s.rows, "value"), ","); got != "deadguys.fr,daenerys@goodguys.fr,baelish@badguys.fr,arya@goodguys.fr" {
			t.Errorf("values %s", got)
		}
		baelish := s.rows[3]
		want := []string{rules[1]["id"].(string), "baelish@badguys.fr", "stark.net", "BLOCK", dateCell(rules[1]["createdDate"].(float64)), dateCell(float64(future)), "he's a traitor"}
		if strings.Join(baelish, "|") != strings.Join(want, "|") {
			t.Errorf("row %q, want %q", baelish, want)
		}
		if got := strings.Join(s.rows[4], "|"); !strings.HasSuffix(got, "|ALLOW|"+dateCell(rules[2]["createdDate"].(float64))+"|||FALSE") {
			t.Errorf("arya's row %q", got)
		}
		// Dates are date cells: a serial number with a date format.
		if typ, err := s.file.GetCellType(s.name, "E2"); err != nil || typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber && typ != excelize.CellTypeDate {
			t.Errorf("E2 type %v, %v", typ, err)
		}
		raw, _ := s.file.GetCellValue(s.name, "E2", excelize.Options{RawCellValue: true})
		if got, want := serialDate(mustFloat(t, raw)), time.UnixMilli(int64(rules[3]["createdDate"].(float64))).UTC(); !got.Equal(want) {
			t.Errorf("E2 raw %q is %v, not the creation date %v", raw, got, want)
		}
		if style, _ := s.file.GetCellStyle(s.name, "E2"); style == 0 {
			t.Error("E2 has no date format")
		}
		e.disposition(wpath, `attachment; filename="wblist-stark.net.xlsx"`)
		if got := column(e.export(wpath+"?type=ALLOW&value=*@goodguys.fr").rows, "value"); strings.Join(got, ",") != "daenerys@goodguys.fr,arya@goodguys.fr" {
			t.Errorf("filtered export %v", got)
		}
		// An empty list is a header row alone.
		if rows := e.export(wpath + "?value=nobody*").rows; len(rows) != 1 {
			t.Errorf("empty export: %v", rows)
		}

		// The mailbox's rules.
		e.do(req{Method: "PUT", Path: "/users/" + ned + "/wblist", Body: []map[string]any{{"value": "cersei@lannister.net", "type": "BLOCK"}}}).expect(200)
		s = e.export("/users/ned@stark.net/wblist")
		if got := strings.Join(column(s.rows, "owner"), ","); got != "ned@stark.net" {
			t.Errorf("mailbox export owners %s", got)
		}
		e.disposition("/users/"+ned+"/wblist", `attachment; filename="wblist-ned@stark.net.xlsx"`)

		// Attachment and URI rules.
		for _, f := range []map[string]any{
			{"action": "DENY", "checkType": "FILENAME", "filter": `\.exe$`},
			{"action": "ALLOW", "checkType": "CONTENTTYPE", "filter": ".xlsx", "description": "Allow xslx files"},
		} {
			e.do(req{Method: "POST", Path: "/domains/" + stark + "/filters/attachments", Body: f}).expect(201)
		}
		s = e.export("/domains/" + stark + "/filters/attachments")
		if got := fmt.Sprint(s.rows[0], column(s.rows, "action"), column(s.rows, "priority"), column(s.rows, "description")); got != "[id action checkType filter scope priority description createdDate] [ALLOW DENY] [2 1] [Allow xslx files ]" {
			t.Errorf("attachment export %s", got)
		}
		e.disposition("/domains/"+stark+"/filters/attachments?action=DENY", `attachment; filename="attachment-filters-stark.net.xlsx"`)
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/filters/uris", Body: map[string]any{"action": "URIDNSBL_SKIP_DOMAIN", "filter": "bulist.com"}}).expect(201)
		s = e.export("/domains/" + stark + "/filters/uris?action=URIDNSBL_SKIP_DOMAIN")
		if got := fmt.Sprint(s.rows[0], s.rows[1][1:5]); got != "[id scope action filter priority description createdDate] [stark.net URIDNSBL_SKIP_DOMAIN bulist.com 1]" {
			t.Errorf("URI export %s", got)
		}

		// The domain's users, with their embedded policy and platform.
		s = e.export("/domains/" + stark + "/users?sort=-email")
		if got := strings.Join(column(s.rows, "email"), ","); got != "ned@stark.net,bran@stark.net,arya@stark.net" {
			t.Errorf("user export %s", got)
		}
		if got := fmt.Sprint(column(s.rows, "firstname")[0], column(s.rows, "status")[1], column(s.rows, "policy.name")[0], column(s.rows, "platform.name")[0]); got != "EddardDISABLEDPolitique-stark.netwinterfell" {
			t.Errorf("user export fields %s", got)
		}
		e.disposition("/domains/"+stark+"/users", `attachment; filename="users-stark.net.xlsx"`)

		// The domain's e-mail aliases, with their recipients in one cell.
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/groups", Body: map[string]any{"email": "pack@stark.net", "recipients": []string{"arya@stark.net", "ghost@north.example"}}}).expect(201)
		e.do(req{Method: "POST", Path: "/domains/" + stark + "/groups", Body: map[string]any{"email": "all@stark.net", "recipients": []string{"pack@stark.net"}}}).expect(201)
		s = e.export("/domains/" + stark + "/groups?sort=-email")
		if got := strings.Join(column(s.rows, "email"), ","); got != "pack@stark.net,all@stark.net" {
			t.Errorf("alias export %s", got)
		}
		if got := column(s.rows, "recipients")[0]; got != "arya@stark.net (USER)\nghost@north.example (EXTERNAL_ADDRESS)" {
			t.Errorf("alias export recipients %q", got)
		}
		if got := strings.Join(column(e.export("/domains/"+stark+"/groups?recipient=pack@stark.net").rows, "email"), ","); got != "all@stark.net" {
			t.Errorf("filtered alias export %s", got)
		}
		e.disposition("/domains/"+stark+"/groups", `attachment; filename="email-aliases-stark.net.xlsx"`)

		// Errors are still problems, not broken files; JSON stays the default.
		e.do(req{Method: "GET", Path: wpath + "?sort=color", Header: map[string]string{"Accept": excelMIME}}).problem(400, "sort")
		e.do(req{Method: "GET", Path: "/domains/zzzzzzz/wblist", Header: map[string]string{"Accept": excelMIME}}).problem(404, "")
		e.do(req{Method: "GET", Path: "/domains/zzzzzzz/users", Header: map[string]string{"Accept": excelMIME}}).problem(404, "")
		for _, accept := range []string{"", "*/*", "application/json", "application/json, application/vnd.ms-excel;q=0.5"} {
			r := e.do(req{Method: "GET", Path: wpath, Header: map[string]string{"Accept": accept}}).expect(200)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Accept %q: Content-Type %q", accept, ct)
			}
		}
	})
}

func mustFloat(t testing.TB, s string) float64 {
	var f float64
	if _, err := fmt.Sscan(s, &f); err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return f
}

// TestSpreadsheetOpensInLibreOffice converts an export to CSV with
// LibreOffice Calc (headless) and compares its rows with excelize's
// reading: the file is a workbook a real spreadsheet application opens.
func TestSpreadsheetOpensInLibreOffice(t *testing.T) {
	soffice := ""
	for _, name := range []string{"soffice", "libreoffice"} {
		if p, err := exec.LookPath(name); err == nil {
			soffice = p
			break
		}
	}
	if soffice == "" {
		t.Skip("LibreOffice is not installed (soffice or libreoffice on PATH); Debian: apt-get install libreoffice-calc")
	}
	e := newEnv(t, "sqlite:"+t.TempDir()+"/c.db")
	stark := e.newDomain("stark.net")
	e.do(req{Method: "PUT", Path: "/domains/" + stark + "/wblist", Body: []map[string]any{
		{"value": "daenerys@goodguys.fr", "type": "ALLOW", "spfOn": true},
		{"value": "baelish@badguys.fr", "type": "BLOCK", "expireAt": future, "description": `he's a "traitor", no?`},
		{"value": "deadguys.fr", "type": "PROTECTED"},
	}}).expect(200)
	s := e.export("/domains/" + stark + "/wblist")

	dir := t.TempDir()
	in := filepath.Join(dir, "wblist.xlsx")
	if err := os.WriteFile(in, s.bytes, 0o600); err != nil {
		t.Fatal(err)
	}
	// A private profile: a user's running LibreOffice, or another test's,
	// must not capture the conversion.
	cmd := exec.Command(soffice, "-env:UserInstallation=file://"+filepath.Join(dir, "profile"),
		"--headless", "--norestore", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", dir, in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("LibreOffice: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "wblist.csv"))
	if err != nil {
		t.Fatalf("LibreOffice wrote no CSV: %v\n%s", err, out)
	}
	got, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, raw)
	}
	if len(got) != len(s.rows) {
		t.Fatalf("LibreOffice reads %d rows, excelize %d:\n%s", len(got), len(s.rows), raw)
	}
	for i := range got {
		want := append([]string{}, s.rows[i]...)
		for len(want) < len(got[i]) {
			want = append(want, "")
		}
		if strings.Join(got[i], "|") != strings.Join(want, "|") {
			t.Errorf("row %d: LibreOffice %q, excelize %q", i, got[i], want)
		}
	}
}
