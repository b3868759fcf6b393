package api

// Every request of this package's tests is found both ways, through Echo's
// route and through the spec's router, and answered 500 where the two
// disagree (operations.find).
func init() { checkRoutes = true }

// SetRouteCheck turns that check off for the benchmarks, which measure the
// server as it runs.
func SetRouteCheck(on bool) { checkRoutes = on }
