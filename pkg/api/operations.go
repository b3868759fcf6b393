package api

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
)

// operations finds a request's operation in the spec from the route Echo
// has matched it to (gen registers one Echo route an operation), so that
// a request is routed once: the spec's router (gorillamux, which tries
// every path's pattern in turn) only answers what Echo's route does not
// settle: a request no operation takes (its 404 or 405); a path parameter
// Echo's route matched empty or across a slash (the last parameter of an
// Echo route takes the rest of the path), which the spec's does not; and
// the paths of operations whose paths overlap another's
// (/users/{userId}/emails/send and /users/{userId}/emails/{folderPath}:
// the spec's router prefers the literal path for every method, Echo only
// for the methods the literal path has).
type operations struct {
	// byRoute is each operation's route, as the spec's router finds it,
	// by method and Echo path ("GET /domains/:id"), but those of
	// overlapping paths.
	byRoute map[string]*routers.Route
	router  routers.Router
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// newOperations indexes every operation of spec by its Echo route, each
// found through router itself from a request to its path.
func newOperations(spec *openapi3.T, router routers.Router) (*operations, error) {
	o := &operations{byRoute: map[string]*routers.Route{}, router: router}
	paths := spec.Paths.Map()
	for path, item := range paths {
		if overlapsAnother(path, paths) {
			continue
		}
		echoPath := pathParam.ReplaceAllString(path, ":$1")
		sample := pathParam.ReplaceAllString(path, "p")
		for method := range item.Operations() {
			req, err := http.NewRequest(method, sample, nil)
			if err != nil {
				return nil, err
			}
			route, _, err := router.FindRoute(req)
			if err != nil || route.Path != path || route.Method != method {
				return nil, fmt.Errorf("%s %s: the spec's router finds %v (%v)", method, path, route, err)
			}
			o.byRoute[method+" "+echoPath] = route
		}
	}
	return o, nil
}

// find returns the operation of the request c holds and its path
// parameters, percent-decoded; the error, if no operation takes it, is
// the spec's router's (routers.ErrPathNotFound, ErrMethodNotAllowed).
func (o *operations) find(c echo.Context) (*routers.Route, map[string]string, error) {
	route, params, err := o.byEcho(c)
	if checkRoutes {
		if err := o.disagreement(c.Request(), route, params, err); err != nil {
			return nil, nil, err
		}
	}
	return route, params, err
}

// disagreement is an error if route, params and err, found for req, are
// not the spec's router's answer.
func (o *operations) disagreement(req *http.Request, route *routers.Route, params map[string]string, err error) error {
	want, wantParams, wantErr := o.route(req)
	if !errors.Is(err, wantErr) || err == nil && (route.Operation != want.Operation || !maps.Equal(params, wantParams)) {
		return fmt.Errorf("operations: %s %s: Echo's route gives %v %v (%v), the spec's router %v %v (%v)",
			req.Method, req.URL, route, params, err, want, wantParams, wantErr)
	}
	return nil
}

// checkRoutes makes find check its answer against the spec's router's on
// every request (pkg/api's tests set it: routes_internal_test.go).
var checkRoutes bool

// byEcho is find's answer from Echo's route where it settles the request,
// and the spec's router's where it does not.
func (o *operations) byEcho(c echo.Context) (*routers.Route, map[string]string, error) {
	req := c.Request()
	if route, ok := o.byRoute[req.Method+" "+c.Path()]; ok {
		names, values := c.ParamNames(), c.ParamValues()
		params := make(map[string]string, len(names))
		for i, name := range names {
			v := values[i]
			if v == "" || strings.Contains(v, "/") {
				return o.route(req)
			}
			// Echo matches the raw path when the request has one (an
			// escape the decoded path would not give back), the decoded
			// path otherwise.
			if req.URL.RawPath != "" {
				v = pathUnescaped(v)
			}
			params[name] = v
		}
		return route, params, nil
	}
	return o.route(req)
}

// route is the spec's router's answer, its parameters percent-decoded.
func (o *operations) route(req *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := o.router.FindRoute(req)
	for k, v := range params {
		params[k] = pathUnescaped(v)
	}
	return route, params, err
}

// pathUnescaped is v percent-decoded, or v itself if it is no valid
// escape.
func pathUnescaped(v string) string {
	if unescaped, err := url.PathUnescape(v); err == nil {
		return unescaped
	}
	return v
}

// overlapsAnother reports whether some request path matches both the path
// template path and another of paths.
func overlapsAnother[V any](path string, paths map[string]V) bool {
	for other := range paths {
		if other != path && overlap(path, other) {
			return true
		}
	}
	return false
}

// overlap reports whether some request path matches both path templates a
// and b: as many segments, each the same or a parameter in one of them.
func overlap(a, b string) bool {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	if len(as) != len(bs) {
		return false
	}
	for i := range as {
		if as[i] != bs[i] && !strings.HasPrefix(as[i], "{") && !strings.HasPrefix(bs[i], "{") {
			return false
		}
	}
	return true
}
