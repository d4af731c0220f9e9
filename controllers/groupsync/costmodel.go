package groupsync

import (
	"github.com/directory-operator/directory-operator/api/v1alpha1"
)

// Cost model of a full sync, in Graph resource units (RU), from Graph's
// published throttling costs (docs/GRAPH.md), which the emulator charges:
//
//	GET /groups/{id}/members         3 RU per page, −1 with $select → 2 (999 per page)
//	GET /groups/{id}/transitiveMembers 5 RU per page, −1 with $select → 4
//	GET /users/delta, /groups/delta  1 RU per page (any other identity GET;
//	                                 $select −1 and $expand +1 cancel out)
//	GET /users/{id}/manager           1 RU per member, 20 per $batch (the
//	                                 envelope itself is free)
//	GET …/$count                      1 RU
//
// With G members and T users in the tenant, and pages(n, k) = ⌈n/k⌉ (at
// least 1), the two ways to get members with their managers are:
//
//	perMember   = 2·pages(G,999) [member list with attributes]
//	            + G              [one manager GET per member]
//	            + 2              [$deltatoken=latest for groups/delta and users/delta]
//	tenantSweep = pages(G,1000)  [groups/delta enumeration of the members]
//	            + pages(T,999)   [users/delta enumeration of the tenant,
//	                              manager expanded; its deltaLink is kept]
//
// (transitive groups list transitiveMembers instead, 4·pages(G,999), in
// both plans, since groups/delta reports direct members only; the group
// link is then not needed). Both plans add 1 RU to read the group (by id,
// or by display name with $filter and $select) and 2 RU for the two
// $counts that size G and T. perMember wins only for small groups in large tenants
// (G ≲ T/1000): a 50,000-member group in a 100,000-user tenant costs ~154 RU
// by sweep and ~50,100 RU per member. Without managers, the member list
// plan (1 + 2·pages(G,999) + 2) needs no counts at all.
//
// Delta syncs cost one page of groups/delta and one of users/delta for
// ordinary churn (2 RU), plus 1 RU per joined member (attributes) and per
// joined member's manager, and 1 RU per manager not already known by UPN.

// Page sizes the model assumes: Graph's maximum $top for member and user
// lists, Prefer: odata.maxpagesize=999 for users/delta, and the member
// chunk groups/delta repeats the group with (1,000 in the emulator).
const (
	listPageSize        = 999
	userDeltaPageSize   = 999
	memberDeltaPageSize = 1000
)

// Plan is the cheapest way to run a full sync.
type Plan struct {
	Strategy v1alpha1.ManagerStrategy
	// ResourceUnits is the model's price, group read and counts included.
	ResourceUnits int
	// Alternative is the price of the plan not chosen (0 without managers).
	Alternative int
}

// ManagerStrategy prices both ways of resolving the managers of a
// groupSize-member group (direct members) in a tenantSize-user tenant and
// returns the cheaper, with its RU estimate (group read and the two $counts
// included). It is exported for the benchmark, which prints it next to
// what the sync really cost (status.lastSync.resourceUnits). PlanFullSync
// covers transitive groups and includeManagers: false.
func ManagerStrategy(groupSize, tenantSize int) (v1alpha1.ManagerStrategy, int) {
	p := PlanFullSync(groupSize, tenantSize, false, true)
	return p.Strategy, p.ResourceUnits
}

// PlanFullSync prices a full sync; see the cost model above.
func PlanFullSync(groupSize, tenantSize int, transitive, includeManagers bool) Plan {
	membersWithAttrs := 2 * pages(groupSize, listPageSize)
	latestLinks := 2
	if transitive {
		membersWithAttrs = 4 * pages(groupSize, listPageSize)
		latestLinks = 1
	}
	const resolveGroup = 1
	if !includeManagers {
		return Plan{Strategy: v1alpha1.ManagersNone, ResourceUnits: resolveGroup + membersWithAttrs + latestLinks}
	}
	const counts = 2
	perMember := resolveGroup + counts + membersWithAttrs + groupSize + latestLinks
	membership := pages(groupSize, memberDeltaPageSize)
	if transitive {
		membership = membersWithAttrs
	}
	sweep := resolveGroup + counts + membership + pages(tenantSize, userDeltaPageSize)
	if perMember < sweep {
		return Plan{Strategy: v1alpha1.ManagersPerMember, ResourceUnits: perMember, Alternative: sweep}
	}
	return Plan{Strategy: v1alpha1.ManagersTenantSweep, ResourceUnits: sweep, Alternative: perMember}
}

func pages(n, size int) int {
	if n <= 0 {
		return 1
	}
	return (n + size - 1) / size
}
