package bitbucket

// ResetBudgets forgets every account's request budget (a benchmark sends
// more than the hour's 1,000 requests).
func ResetBudgets() { budgets.Clear() }
