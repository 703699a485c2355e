-- kf user commands (:KfOptimize [budget] [evalSeconds], :KfStop, :KfApply [variant],
-- :KfJobs, :KfSetApiKey). They act on the kf client attached to the current buffer.
if vim.g.loaded_kf then return end
vim.g.loaded_kf = true
require('kf').create_commands()
