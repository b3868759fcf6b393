package cleanmail

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/cleanmail/cleanmail"

// TestHouseMap checks the README's map of the packages ("The house")
// against the code: every package of the module has a row, every row a
// package, and a package imports, of this module, only what its row allows.
func TestHouseMap(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := houseRows(t, string(readme))
	code := map[string][]string{}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "testdata") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if _, none := err.(*build.NoGoError); none {
			return nil
		}
		if err != nil {
			return err
		}
		var ours []string
		for _, imp := range pkg.Imports {
			if imp == module {
				ours = append(ours, ".")
			} else if rest, ok := strings.CutPrefix(imp, module+"/"); ok {
				ours = append(ours, rest)
			}
		}
		code[filepath.ToSlash(path)] = ours
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pkg, imports := range code {
		allowed, ok := rows[pkg]
		if !ok {
			t.Errorf("package %s has no row in the README's map", pkg)
			continue
		}
		for _, imp := range imports {
			if !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s, which its row in the README's map does not allow (%v)", pkg, imp, allowed)
			}
		}
	}
	for pkg := range rows {
		if _, ok := code[pkg]; !ok {
			t.Errorf("the README's map has a row for %s, which is no package", pkg)
		}
	}
}

// houseRows reads the table of "## The house": package → the packages it
// may import.
func houseRows(t *testing.T, readme string) map[string][]string {
	_, section, ok := strings.Cut(readme, "\n## The house\n")
	if !ok {
		t.Fatal(`README.md has no "## The house" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	code := regexp.MustCompile("`([^`]+)`")
	rows := map[string][]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if !strings.HasPrefix(line, "| `") || len(cells) != 3 {
			continue
		}
		pkg := code.FindStringSubmatch(cells[0])[1]
		rows[pkg] = []string{}
		for _, m := range code.FindAllStringSubmatch(cells[2], -1) {
			rows[pkg] = append(rows[pkg], m[1])
		}
	}
	if len(rows) == 0 {
		t.Fatal(`the "## The house" section of README.md has no table of packages`)
	}
	return rows
}
