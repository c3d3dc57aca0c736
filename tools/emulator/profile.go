package emulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
)

// ProfileEnv is the moto environment entry that makes the shim count each operation's
// calls, wall time and CPU time (its fix 15); Profile reads them.
const ProfileEnv = "MOTO_SHIM_PROFILE=1"

// Profile is where the emulator's one core went: the process's CPU time, the part spent
// serving requests, and per operation ("sqs:ReceiveMessage") the calls, their wall time and
// their CPU time. The rest of the process's time is moto's own threads (Step Functions
// executions above all) and the HTTP server around the requests.
type Profile struct {
	ProcessCPU float64     `json:"processCPU"`
	RequestCPU float64     `json:"requestCPU"`
	Ops        []ProfileOp `json:"ops"`
}

// ProfileOp is one operation's share of a Profile.
type ProfileOp struct {
	Op    string  `json:"op"`
	Count int64   `json:"count"`
	WallS float64 `json:"wallS"`
	CPUS  float64 `json:"cpuS"`
}

// ReadProfile reads the profile of the shim at endpoint (a server started with ProfileEnv).
func ReadProfile(ctx context.Context, endpoint string) (Profile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/moto-api/orderflow/stats", nil)
	if err != nil {
		return Profile{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Profile{}, fmt.Errorf("emulator profile: %w", err)
	}
	defer resp.Body.Close()
	var st struct {
		Profile *Profile `json:"profile"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
		return Profile{}, fmt.Errorf("emulator profile: HTTP %d, %v", resp.StatusCode, err)
	}
	if st.Profile == nil {
		return Profile{}, fmt.Errorf("emulator profile: the shim does not profile (start it with %s)", ProfileEnv)
	}
	return *st.Profile, nil
}

// Since returns what p added to before, operations sorted by CPU time, most first.
func (p Profile) Since(before Profile) Profile {
	was := map[string]ProfileOp{}
	for _, o := range before.Ops {
		was[o.Op] = o
	}
	out := Profile{ProcessCPU: p.ProcessCPU - before.ProcessCPU, RequestCPU: p.RequestCPU - before.RequestCPU}
	for _, o := range p.Ops {
		b := was[o.Op]
		if d := (ProfileOp{Op: o.Op, Count: o.Count - b.Count, WallS: o.WallS - b.WallS, CPUS: o.CPUS - b.CPUS}); d.Count > 0 {
			out.Ops = append(out.Ops, d)
		}
	}
	sort.Slice(out.Ops, func(i, j int) bool { return out.Ops[i].CPUS > out.Ops[j].CPUS })
	return out
}
