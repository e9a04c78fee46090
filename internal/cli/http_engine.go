// SPDX-License-Identifier: Apache-2.0

package cli

import (
	"encoding/json"
	"net/http"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nvml-scaler/nvml-scaler/scaler/enginetrigger"
)

// engineExplainPath is the read-only HTTP endpoint, on serve's and
// aggregate's --http-listen, that names the pods behind an engine trigger's
// value: GET with the ScaledObject's name and namespace (explainName,
// explainNamespace; trigger metadata has a key "namespace" of its own) and
// every other query parameter as trigger metadata, e.g.
// /debug/engine?scaledObjectName=llm&scaledObjectNamespace=prod&metric=requests_waiting&targetValue=5.
const (
	engineExplainPath = "/debug/engine"
	explainName       = "scaledObjectName"
	explainNamespace  = "scaledObjectNamespace"
)

// engineExplanation is engineExplainPath's JSON answer.
type engineExplanation struct {
	enginetrigger.Contribution
	// Error is the call's gRPC status, e.g. "Unavailable: …", as GetMetrics
	// would return it; "" when it has a value.
	Error string `json:"error,omitempty"`
}

// engineExplainHandler serves engineExplainPath with explain: 200 with the
// explanation (and the error, when the value failed), 400 for a request
// that is not an engine trigger.
func engineExplainHandler(explain func(*pb.ScaledObjectRef) (enginetrigger.Contribution, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		ref := &pb.ScaledObjectRef{Name: q.Get(explainName), Namespace: q.Get(explainNamespace), ScalerMetadata: map[string]string{}}
		for k, v := range q {
			if k != explainName && k != explainNamespace && len(v) > 0 {
				ref.ScalerMetadata[k] = v[len(v)-1]
			}
		}
		c, err := explain(ref)
		out := engineExplanation{Contribution: c}
		if out.Contributed == nil {
			out.Contributed = []string{} // JSON [] rather than null
		}
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			st := status.Convert(err)
			out.Error = st.Code().String() + ": " + st.Message()
			if st.Code() == codes.InvalidArgument {
				w.WriteHeader(http.StatusBadRequest)
			}
		}
		_ = json.NewEncoder(w).Encode(out)
	})
}
