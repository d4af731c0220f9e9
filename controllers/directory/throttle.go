package directory

import (
	"math"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
	"github.com/directory-operator/directory-operator/internal/graph"
)

// publishBudgets writes status.throttle (the app+tenant and app-wide
// budgets in force) and the ThrottleConflict condition, which names the
// Directories sharing a budget with different settings.
func (r *Reconciler) publishBudgets(dir *v1alpha1.Directory) {
	rep, ok := r.Clients.Throttle(connection.Key(dir))
	if !ok {
		return
	}
	dir.Status.Throttle = &v1alpha1.ThrottleStatus{
		AppTenant:  budgetStatus(rep.AppTenant, 10, 150),
		App:        budgetStatus(rep.App, 20, 300),
		SharedWith: rep.SharedWith,
	}
	if rep.Conflict == "" {
		meta.RemoveStatusCondition(&dir.Status.Conditions, v1alpha1.ConditionThrottleConflict)
		return
	}
	ctrlkit.SetCondition(&dir.Status.CommonStatus, dir.Generation, v1alpha1.ConditionThrottleConflict, true,
		v1alpha1.ReasonSettingsDiffer, rep.Conflict)
}

// budgetStatus reports a budget; the windows are Graph's (unscaled), the
// defaults where the config leaves them zero.
func budgetStatus(b graph.BudgetReport, ruWindow, writeWindow int64) v1alpha1.BudgetStatus {
	if b.Config.RUWindow > 0 {
		ruWindow = int64(b.Config.RUWindow.Seconds())
	}
	if b.Config.WriteWindow > 0 {
		writeWindow = int64(b.Config.WriteWindow.Seconds())
	}
	st := v1alpha1.BudgetStatus{
		ResourceUnits: int64(b.Config.ResourceUnitsPer10s), ResourceUnitWindowSeconds: ruWindow,
		Writes: int64(b.Config.WritesPer150s), WriteWindowSeconds: writeWindow,
		AvailableResourceUnits: int64(b.Stats.AvailableResourceUnits), AvailableWrites: int64(b.Stats.AvailableWrites),
		ThrottledByGraph: b.Stats.Blocked > 0,
	}
	if s := b.Stats.Share; s > 0 && s < 1 {
		// Shards split the quota: say so, or the limits read as if this
		// process had all of them.
		st.SharePercent = ptr.To(int32(math.Round(s * 100)))
	}
	return st
}
