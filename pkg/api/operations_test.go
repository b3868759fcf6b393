package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/cleanmail/cleanmail/gen"
)

// TestOperationsFindAsTheSpecRouter sends every operation's path, with
// parameters plain, percent-escaped and empty, by its method and by
// others, and paths no operation has, through Echo routes registered as
// the server registers them: each is found through Echo's route as the
// spec's router finds it, and a plain one without the spec's router.
func TestOperationsFindAsTheSpecRouter(t *testing.T) {
	spec, ops, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	g := e.Group("")
	indexed := map[string]bool{}
	g.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			route, params, err := ops.byEcho(c)
			if err := ops.disagreement(req, route, params, err); err != nil {
				t.Error(err)
			}
			_, indexed[req.Method+" "+req.URL.String()] = ops.byRoute[req.Method+" "+c.Path()]
			return c.NoContent(http.StatusNoContent)
		}
	})
	gen.RegisterHandlers(g, gen.NewStrictHandler(nil, nil))

	send := func(method, target string) {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(method, target, nil))
	}
	values := []string{"p", "ByE3n", "a%2Fb", "a%20b", "%E2%82%AC", "a%2541", "a%25", "a+b", "{id}", ""}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead}
	for path, item := range spec.Paths.Map() {
		for method := range item.Operations() {
			plain := pathParam.ReplaceAllString(path, "p")
			send(method, plain)
			if !indexed[method+" "+plain] && !overlapsAnother(path, spec.Paths.Map()) {
				t.Errorf("%s %s: not found through Echo's route", method, plain)
			}
			for _, v := range values {
				for _, m := range methods {
					send(m, pathParam.ReplaceAllString(path, v))
				}
			}
			send(method, plain+"/")
			send(method, plain+"/x")
			send(method, strings.ToUpper(plain))
		}
	}
	for _, target := range []string{"/", "/x", "//domains", "/domains/", "/domains//aliases", "/%64omains/p", "/domains/p%2F", "/openapi.yaml"} {
		for _, m := range methods {
			send(m, target)
		}
	}
	if len(indexed) < 2*len(spec.Paths.Map()) {
		t.Errorf("only %d requests reached the middleware", len(indexed))
	}
}
