"""The instructor's machinery: the command line, the learner's launcher and the grader.

Nothing here runs inside a learner's kernel. During ``lstm-course grade`` the
learner's notebook runs in a sandbox and every score is decided here, in the
grading process, from plain arrays the kernel returns.
"""
