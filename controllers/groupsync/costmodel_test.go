package groupsync_test

import (
	"testing"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/controllers/groupsync"
)

func TestManagerStrategy(t *testing.T) {
	cases := []struct {
		group, tenant int
		transitive    bool
		want          v1alpha1.ManagerStrategy
		ru            int
	}{
		// 1 group read + 2 counts + 50 member pages + 101 user pages.
		{50000, 100000, false, v1alpha1.ManagersTenantSweep, 154},
		// 1 + 2 + 2 (member list) + 5 managers + 2 latest links.
		{5, 100000, false, v1alpha1.ManagersPerMember, 12},
		{2000, 2600, false, v1alpha1.ManagersTenantSweep, 1 + 2 + 2 + 3},
		// transitive: 4 RU per transitiveMembers page in both plans.
		{6, 50, true, v1alpha1.ManagersTenantSweep, 1 + 2 + 4 + 1},
		{3, 200000, true, v1alpha1.ManagersPerMember, 1 + 2 + 4 + 3 + 1},
	}
	for _, c := range cases {
		p := groupsync.PlanFullSync(c.group, c.tenant, c.transitive, true)
		if p.Strategy != c.want || p.ResourceUnits != c.ru || p.Alternative < p.ResourceUnits {
			t.Errorf("PlanFullSync(%d, %d, %v) = %+v, want %s %d RU", c.group, c.tenant, c.transitive, p, c.want, c.ru)
		}
		if !c.transitive {
			if s, ru := groupsync.ManagerStrategy(c.group, c.tenant); s != c.want || ru != c.ru {
				t.Errorf("ManagerStrategy(%d, %d) = %s %d", c.group, c.tenant, s, ru)
			}
		}
	}
	if p := groupsync.PlanFullSync(50000, 100000, false, false); p.Strategy != v1alpha1.ManagersNone || p.ResourceUnits != 1+2*51+2 {
		t.Errorf("without managers: %+v", p)
	}
}
