package api

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/oapi-codegen/nullable"
	"github.com/xuri/excelize/v2"

	"github.com/cleanmail/cleanmail/db"
	"github.com/cleanmail/cleanmail/pkg/fault"
)

// Spreadsheet exports: the list operations that the doc marks with
// application/vnd.ms-excel answer a request that asks for a spreadsheet
// with a workbook of every row matching the filters, in the requested
// sort, paging ignored. One mechanism serves every list: a handler declares its columns
// and hands over a stream of rows; exportSheet writes them.

// The media types of a spreadsheet. An export is an Office Open XML
// workbook (.xlsx) and says so (xlsxMIME, as openapi.yaml declares it); a
// request may ask for it by that type or by the one the doc names
// (excelMIME, the legacy .xls type), which clients of the doc send.
const (
	xlsxMIME  = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	excelMIME = "application/vnd.ms-excel"
)

// wantsSpreadsheet tells whether the request's Accept header asks for a
// spreadsheet rather than JSON (the strict request objects do not carry
// Accept: the request's facts do).
func wantsSpreadsheet(ctx context.Context) bool {
	return prefersSpreadsheet(factsOf(ctx).accept)
}

// prefersSpreadsheet applies content negotiation to Accept headers: the
// spreadsheet wins when it is listed with a quality above JSON's, or above
// a wildcard's when JSON is not listed (an explicit type beats a wildcard
// at equal quality). JSON, the default representation, wins ties between
// the two explicit types and answers when Accept is absent.
func prefersSpreadsheet(accept []string) bool {
	excel, json, wild := -1.0, -1.0, -1.0
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(v, 64); err != nil {
					q = 0
				}
			}
			switch mt {
			case xlsxMIME, excelMIME:
				excel = max(excel, q)
			case "application/json":
				json = max(json, q)
			case "application/*", "*/*":
				wild = max(wild, q)
			}
		}
	}
	switch {
	case excel <= 0:
		return false
	case json >= 0:
		return excel > json
	}
	return excel >= wild
}

// column is one column of an export: its header (the API's field name,
// so a sheet reads like the JSON it stands for), its width in characters,
// and how to read its cell from a row. cell returns a string, a bool, an
// integer, a time.Time (written as a date cell, in UTC), or nil (an empty
// cell).
type column[T any] struct {
	name  string
	width float64
	cell  func(*T) any
}

// msDate turns epoch milliseconds into a date cell; nil stays empty.
func msDate(ms *int64) any {
	if ms == nil {
		return nil
	}
	return time.UnixMilli(*ms).UTC()
}

// optional turns a pointer into its value, or an empty cell.
func optional[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// spreadsheet is an export whose rows are written: its workbook is zipped
// into Body as the response is sent.
type spreadsheet struct {
	Body     io.Reader
	Rows     int64
	filename string
}

// exportHeaders is the shape of the headers of every list's 200 response
// (X-Total-Count, Content-Disposition, Link): the generated per-operation
// types convert from it, gen.ListXxx200ResponseHeaders(x.headers()). An
// export is never paged: it has no Link.
type exportHeaders = struct {
	ContentDisposition *string
	Link               *string
	XTotalCount        int64
}

func (x *spreadsheet) headers() exportHeaders {
	// exportName leaves nothing in the name that would need escaping.
	d := `attachment; filename="` + x.filename + `"`
	return exportHeaders{ContentDisposition: &d, XTotalCount: x.Rows}
}

// exportSheet writes every row that stream produces into a one-sheet
// workbook: a header row of the columns' names, then one row per item.
// stream calls emit with the rows in batches (the store's Stream*
// methods); emit must not keep them.
//
// Memory stays flat whatever the length: rows go from the database cursor
// to excelize's StreamWriter a batch at a time, the sheet spills to a
// temporary file past excelize's chunk size (16 MiB), and the zip is
// compressed straight into the response while it is sent. Errors while
// reading rows (a bad sort, the database) happen before the response
// starts, so they still become problem responses.
func exportSheet[T any](ctx context.Context, stem, title string, cols []column[T], stream func(emit func([]T) error) error) (*spreadsheet, error) {
	f := excelize.NewFile()
	handedOver := false
	defer func() {
		if !handedOver {
			_ = f.Close()
		}
	}()
	if err := f.SetSheetName("Sheet1", title); err != nil {
		return nil, err
	}
	sw, err := f.NewStreamWriter(title)
	if err != nil {
		return nil, err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return nil, err
	}
	// Milliseconds shown, as the API has them: a reader that rounds to
	// the second and one that truncates would disagree otherwise.
	dateFormat := "yyyy-mm-dd hh:mm:ss.000"
	dateStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &dateFormat})
	if err != nil {
		return nil, err
	}
	header := make([]any, len(cols))
	for i, c := range cols {
		if err := sw.SetColWidth(i+1, i+1, c.width); err != nil {
			return nil, err
		}
		header[i] = excelize.Cell{StyleID: bold, Value: c.name}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return nil, err
	}
	if err := sw.SetRow("A1", header); err != nil {
		return nil, err
	}
	row := 1
	values := make([]any, len(cols))
	err = stream(func(batch []T) error {
		for i := range batch {
			if row == excelize.TotalRows {
				return fault.New(fault.Invalid, "", "The export holds more rows than a sheet can (%d): narrow it with the list's filters.", excelize.TotalRows-1)
			}
			row++
			for j, c := range cols {
				v := c.cell(&batch[i])
				if t, ok := v.(time.Time); ok {
					v = excelize.Cell{StyleID: dateStyle, Value: t}
				}
				values[j] = v
			}
			cell, err := excelize.CoordinatesToCellName(1, row)
			if err != nil {
				return err
			}
			if err := sw.SetRow(cell, values); err != nil {
				return err
			}
		}
		// A client that went away stops the export.
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	if err := sw.Flush(); err != nil {
		return nil, err
	}

	// excelize's Write zips the whole workbook into memory first; its zip
	// writer hook lets the zip go to the response instead (the buffer it is
	// handed stays empty).
	pr, pw := io.Pipe()
	f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zip.NewWriter(pw) })
	handedOver = true
	go func() {
		err := f.Write(io.Discard)
		_ = f.Close() // removes the temporary file
		pw.CloseWithError(err)
	}()
	// When the request ends (response sent, client gone, or the response
	// never started), the writer is released.
	context.AfterFunc(ctx, func() { _ = pr.CloseWithError(fmt.Errorf("export: %w", context.Canceled)) })
	return &spreadsheet{Body: pr, Rows: int64(row - 1), filename: stem + ".xlsx"}, nil
}

// exportList is exportSheet over a store's stream of rows (its Stream*
// method, bound to the list's filters and sort), each converted to the
// API's type by out: what a list handler calls.
func exportList[V, T any](ctx context.Context, stem, title string, cols []column[T], out func(*V) T, stream func(fn func([]V) error) error) (*spreadsheet, error) {
	return exportSheet(ctx, stem, title, cols, func(emit func([]T) error) error {
		batch := make([]T, 0, db.StreamBatch)
		return stream(func(rows []V) error {
			batch = batch[:0]
			for i := range rows {
				batch = append(batch, out(&rows[i]))
			}
			return emit(batch)
		})
	})
}

// exportDomainList is exportList for a list of one domain's objects: the
// file is named after the domain, and an unknown domain is a 404.
func exportDomainList[V, T any](ctx context.Context, s *Server, domainID int64, stem, title string, cols []column[T], out func(*V) T, stream func(fn func([]V) error) error) (*spreadsheet, error) {
	d, err := s.store.GetUserDomain(ctx, domainID)
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	x, err := exportList(ctx, exportName(stem, d.Name), title, cols, out, stream)
	if err != nil {
		return nil, about(err, fault.Domain)
	}
	return x, nil
}

// exportName makes a file name stem of a list's name and its owner's
// (a domain name or an address): letters, digits, dots, dashes and @.
func exportName(list, owner string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '@', r == '_':
			return r
		}
		return '_'
	}, owner)
	return list + "-" + clean
}

// nullablePtr turns a nullable into a pointer: nil when unset or null.
func nullablePtr[T any](n nullable.Nullable[T]) *T {
	if !n.IsSpecified() || n.IsNull() {
		return nil
	}
	v := n.MustGet()
	return &v
}
