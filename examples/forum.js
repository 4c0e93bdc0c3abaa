exports.topicCounter = 0
exports.postCounter = 0
exports.init = async () => {
  state.mkdir('/topics')
}
exports.addTopic = async (title) => {
  const id = ++exports.topicCounter
  await state.mkdir(`/topics/${id}`)
  await state.writeFile(`/topics/${id}/title`, title)
  return id
}
exports.addPost = async (id, content) => {
  const postId = ++exports.postCounter
  await state.writeFile(`/topics/${id}/${postId}`, content)
  return postId
}
