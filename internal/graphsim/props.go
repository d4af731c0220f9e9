package graphsim

import (
	"hash/fnv"
	"regexp"
	"strings"
	"time"
)

// SignInActivity is a user's signInActivity (needs AuditLog.Read.All).
// Zero times are served as Graph serves accounts that never signed in.
type SignInActivity struct {
	LastSignInDateTime                time.Time
	LastSignInRequestID               string
	LastNonInteractiveSignInDateTime  time.Time
	LastNonInteractiveSignInRequestID string
	LastSuccessfulSignInDateTime      time.Time
	LastSuccessfulSignInRequestID     string
}

// AssignedLicense is one entry of a user's assignedLicenses.
type AssignedLicense struct {
	SkuID         string
	DisabledPlans []string
}

// signInSubProps are the filterable members of signInActivity.
var signInSubProps = map[string]string{
	"lastsignindatetime":               "lastSignInDateTime",
	"lastnoninteractivesignindatetime": "lastNonInteractiveSignInDateTime",
	"lastsuccessfulsignindatetime":     "lastSuccessfulSignInDateTime",
}

// signInMaxPage is the page-size ceiling when signInActivity is selected
// or filtered on ($top above it is served in pages of this size).
const signInMaxPage = 500

// signInQuery reports whether a request selects or filters on
// signInActivity (stricter page size and throttling).
func signInQuery(c *call) bool {
	return containsFold(c.q.Get("$select"), "signInActivity") || containsFold(c.q.Get("$filter"), "signInActivity")
}

func signInJSON(a *SignInActivity) any {
	if a == nil {
		return nil
	}
	o := newObj(6)
	o.add("lastSignInDateTime", fmtTime(a.LastSignInDateTime))
	o.add("lastSignInRequestId", nilIfEmpty(a.LastSignInRequestID))
	o.add("lastNonInteractiveSignInDateTime", fmtTime(a.LastNonInteractiveSignInDateTime))
	o.add("lastNonInteractiveSignInRequestId", nilIfEmpty(a.LastNonInteractiveSignInRequestID))
	o.add("lastSuccessfulSignInDateTime", fmtTime(a.LastSuccessfulSignInDateTime))
	o.add("lastSuccessfulSignInRequestId", nilIfEmpty(a.LastSuccessfulSignInRequestID))
	return o
}

func signInField(a *SignInActivity, sub string) any {
	if a == nil {
		return time.Time{}
	}
	switch sub {
	case "lastSignInDateTime":
		return a.LastSignInDateTime
	case "lastNonInteractiveSignInDateTime":
		return a.LastNonInteractiveSignInDateTime
	case "lastSuccessfulSignInDateTime":
		return a.LastSuccessfulSignInDateTime
	}
	return nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func licensesJSON(ls []AssignedLicense) []any {
	out := make([]any, 0, len(ls))
	for _, l := range ls {
		dp := l.DisabledPlans
		if dp == nil {
			dp = []string{}
		}
		out = append(out, map[string]any{"disabledPlans": dp, "skuId": l.SkuID})
	}
	return out
}

// extensionProp matches directory extension attributes
// (extension_<appId without dashes>_<name>) and schema extensions
// (ext<8 chars>_<name>): real properties whose values the emulator keeps
// when written and omits when unset, as Graph does.
var extensionProp = regexp.MustCompile(`^(?i:extension_[0-9a-f]{32}_\w+|ext[a-z0-9]{8}_\w+)$`)

// singleUserOnly are real user properties Graph serves only on GET of one
// user (SharePoint profile); in a collection they answer 501.
var singleUserOnly = map[string]bool{"aboutMe": true, "birthday": true, "hireDate": true, "interests": true, "mySite": true,
	"pastProjects": true, "preferredName": true, "responsibilities": true, "schools": true, "skills": true, "mailboxSettings": true}

// seededSignIn derives a realistic signInActivity from a user's id (no
// draws from the generator's random stream, so ids stay as they were):
// about 70 % active in the last 30 days, 15 % 30-90 days, 8 % 90-365 days,
// 4 % over a year, 3 % never signed in.
func seededSignIn(id string, now time.Time) *SignInActivity {
	h := fnv.New64a()
	h.Write([]byte(id))
	x := h.Sum64()
	p := x % 100
	var ageDays uint64
	switch {
	case p < 3:
		return &SignInActivity{}
	case p < 73:
		ageDays = x >> 8 % 30
	case p < 88:
		ageDays = 30 + x>>8%60
	case p < 96:
		ageDays = 90 + x>>8%275
	default:
		ageDays = 365 + x>>8%730
	}
	last := now.Add(-time.Duration(ageDays)*24*time.Hour - time.Duration(x>>20%86400)*time.Second).UTC().Truncate(time.Second)
	reqID := func(salt string) string {
		h := fnv.New64a()
		h.Write([]byte(salt + id))
		v := h.Sum64()
		return strings.ToLower(strings.ReplaceAll(genIDFrom(v), "-", "")[:8]) + id[8:]
	}
	nonInt := last.Add(time.Duration(x>>40%7200) * time.Second)
	return &SignInActivity{LastSignInDateTime: last, LastSignInRequestID: reqID("i"),
		LastNonInteractiveSignInDateTime: nonInt, LastNonInteractiveSignInRequestID: reqID("n"),
		LastSuccessfulSignInDateTime: nonInt, LastSuccessfulSignInRequestID: reqID("n")}
}

func genIDFrom(v uint64) string {
	const hexd = "0123456789abcdef"
	var b [16]byte
	for i := range b {
		b[i] = hexd[v&0xf]
		v = v>>4 | v<<60
	}
	return string(b[:])
}

// e3SkuID is Microsoft 365 E3's skuId (a real, documented value).
const e3SkuID = "05e9a617-0261-4cee-bb44-138d3ef5d965"

// seedLifecycle gives a generated user the served-only properties, derived
// from its id: signInActivity (see seededSignIn), an E3 license for 90 %,
// and a leave date in the next 60 days for 2 %.
func seedLifecycle(u *User, now time.Time) {
	u.SignInActivity = seededSignIn(u.ID, now)
	h := fnv.New32a()
	h.Write([]byte(u.ID))
	x := h.Sum32()
	if x%10 != 0 {
		u.AssignedLicenses = []AssignedLicense{{SkuID: e3SkuID}}
	}
	if x%100 < 2 {
		u.EmployeeLeaveDateTime = now.Add(time.Duration(x>>8%60+1) * 24 * time.Hour).UTC().Truncate(24 * time.Hour)
	}
}
