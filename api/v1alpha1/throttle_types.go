package v1alpha1

// ConditionThrottleConflict is True while other Directories sharing this
// one's app+tenant (or app) budget ask for different throttle settings; the
// message names them and the figures in force (the most conservative).
const (
	ConditionThrottleConflict = "ThrottleConflict"
	ReasonSettingsDiffer      = "SettingsDiffer"
)

// ThrottleStatus shows the two client-side budgets every request of a
// Directory is paced by.
type ThrottleStatus struct {
	// AppTenant is the budget of this app in this tenant, shared by every
	// Directory (and ClusterDirectory) of the pair.
	AppTenant BudgetStatus `json:"appTenant"`
	// App is the app-wide budget, shared by every tenant the app serves.
	App BudgetStatus `json:"app"`
	// SharedWith lists the other Directories (namespace/name) of the same
	// app+tenant.
	// +optional
	// +listType=atomic
	SharedWith []string `json:"sharedWith,omitempty"`
}

// BudgetStatus is one budget's limits in force and its state.
type BudgetStatus struct {
	// ResourceUnits is the resource-unit limit per ResourceUnitWindowSeconds.
	ResourceUnits int64 `json:"resourceUnits"`
	// ResourceUnitWindowSeconds is the window of the RU limit.
	ResourceUnitWindowSeconds int64 `json:"resourceUnitWindowSeconds"`
	// Writes is the write limit per WriteWindowSeconds.
	Writes int64 `json:"writes"`
	// WriteWindowSeconds is the window of the write limit.
	WriteWindowSeconds int64 `json:"writeWindowSeconds"`
	// AvailableResourceUnits were left when the status was written.
	AvailableResourceUnits int64 `json:"availableResourceUnits"`
	// AvailableWrites were left when the status was written.
	AvailableWrites int64 `json:"availableWrites"`
	// ThrottledByGraph is true while a 429 from Graph (not the operator's
	// own pacing) holds every caller of this budget.
	// +optional
	ThrottledByGraph bool `json:"throttledByGraph,omitempty"`
	// SharePercent is the part of the limits above this operator shard may
	// spend, set only while shards (--budget-shards) split the budget: 50
	// with two live shards. Availability above is of that part.
	// +optional
	SharePercent *int32 `json:"sharePercent,omitempty"`
}
