package graphsim

import (
	"regexp"
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

func signInJSON(userID string, a *SignInActivity) any {
	if a == nil {
		return nil
	}
	reqID := func(t time.Time, id, kind string) any {
		switch {
		case id != "":
			return id
		case t.IsZero():
			return nil
		}
		return signInRequestID(userID, kind)
	}
	o := newObj(6)
	o.add("lastSignInDateTime", fmtTime(a.LastSignInDateTime))
	o.add("lastSignInRequestId", reqID(a.LastSignInDateTime, a.LastSignInRequestID, "i"))
	o.add("lastNonInteractiveSignInDateTime", fmtTime(a.LastNonInteractiveSignInDateTime))
	o.add("lastNonInteractiveSignInRequestId", reqID(a.LastNonInteractiveSignInDateTime, a.LastNonInteractiveSignInRequestID, "n"))
	o.add("lastSuccessfulSignInDateTime", fmtTime(a.LastSuccessfulSignInDateTime))
	o.add("lastSuccessfulSignInRequestId", reqID(a.LastSuccessfulSignInDateTime, a.LastSuccessfulSignInRequestID, "n"))
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
// 4 % over a year, 3 % never signed in. Request ids are derived when
// served (signInRequestID).
func seededSignIn(id string, now time.Time) *SignInActivity {
	x := fnv64(id)
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
	nonInt := last.Add(time.Duration(x>>40%7200) * time.Second)
	return &SignInActivity{LastSignInDateTime: last, LastNonInteractiveSignInDateTime: nonInt, LastSuccessfulSignInDateTime: nonInt}
}

// fnv64 is FNV-1a over a string, without allocating.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// signInRequestID is the request id served for a sign-in that has a time
// but no recorded id: a GUID derived from the user id and the kind.
func signInRequestID(userID, kind string) string {
	a, b := fnv64(kind+userID), fnv64(userID+kind)
	const hexd = "0123456789abcdef"
	var out [36]byte
	pos := 0
	for i, n := range []int{8, 4, 4, 4, 12} {
		if i > 0 {
			out[pos] = '-'
			pos++
		}
		for j := 0; j < n; j++ {
			out[pos] = hexd[a&0xf]
			a = a>>4 | b<<60
			b >>= 4
			pos++
		}
	}
	return string(out[:])
}

// e3SkuID is Microsoft 365 E3's skuId (a real, documented value).
const e3SkuID = "05e9a617-0261-4cee-bb44-138d3ef5d965"

var e3Licenses = []AssignedLicense{{SkuID: e3SkuID}}

// seedLifecycle gives a generated user the served-only properties, derived
// from its id: signInActivity (see seededSignIn), an E3 license for 90 %,
// and a leave date in the next 60 days for 2 %.
func seedLifecycle(u *User, now time.Time) {
	u.SignInActivity = seededSignIn(u.ID, now)
	x := uint32(fnv64(u.ID) >> 32)
	if x%10 != 0 {
		u.AssignedLicenses = e3Licenses // shared: stored users are never mutated in place
	}
	if x%100 < 2 {
		u.EmployeeLeaveDateTime = now.Add(time.Duration(x>>8%60+1) * 24 * time.Hour).UTC().Truncate(24 * time.Hour)
	}
}
