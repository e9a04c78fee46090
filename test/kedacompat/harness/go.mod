module github.com/nvml-scaler/nvml-scaler/test/kedacompat/harness

go 1.26.0

// testify at the older of the two KEDA releases' own pins (v2.17.3: v1.10.0),
// so that the harness never raises a version in either module's graph.
require github.com/stretchr/testify v1.10.0

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
